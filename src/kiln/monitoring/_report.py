def monitor_report(run: dict) -> str:
    raise NotImplementedError

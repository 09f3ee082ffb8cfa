from kiln.cli import run

run()

// Studio pages: pipelines (see app.js for the frame).

// Studio pages: jobs (see app.js for the frame).

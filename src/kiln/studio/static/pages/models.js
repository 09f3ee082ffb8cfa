// Studio pages: models (see app.js for the frame).

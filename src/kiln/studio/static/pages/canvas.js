// Studio pages: canvas (see app.js for the frame).

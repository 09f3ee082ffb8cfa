// Studio pages: search (see app.js for the frame).

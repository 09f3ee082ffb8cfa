// Studio pages: data (see app.js for the frame).

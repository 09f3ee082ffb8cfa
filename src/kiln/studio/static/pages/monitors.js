// Studio pages: monitors (see app.js for the frame).

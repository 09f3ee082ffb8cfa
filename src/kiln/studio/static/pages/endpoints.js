// Studio pages: endpoints (see app.js for the frame).

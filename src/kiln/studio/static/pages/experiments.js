// Studio pages: experiments (see app.js for the frame).

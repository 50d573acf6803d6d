"""Server-rendered pages. Not built yet: it arrives with the web app issue."""

"""The platform kernel: database, events, jobs, realtime, web and errors. Imports no feature."""

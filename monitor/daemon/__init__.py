"""The daemon: the app object, source pollers, intake, deadlines, alerts and their sender."""

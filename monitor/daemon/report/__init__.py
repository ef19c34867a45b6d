"""The quarterly report to the regional centre (ЦУР) and the picture of problems."""

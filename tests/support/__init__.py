"""Helpers the suites share: namespace hosts, peers, paced servers, file systems, waiting."""

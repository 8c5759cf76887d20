"""Usage reports: who got the time of a round, by country, group, facility, instrument or proposal type."""

"""The commands people run by hand: the planner's contract (``plan``), reports, inspections."""

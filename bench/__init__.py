"""`make bench`: Roster under hypercorn and wrk, with two floors measured in the same run."""

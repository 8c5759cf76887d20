"""The dashboard's view models: what each page shows, read through the domain services with the API's access rules.

`round` and `proposer` build whole pages; `timeline` writes the round's rows, blocks,
windows, changeovers and idle shifts as one compact payload the page's script draws;
`panels` fills the round page's quotas and puts the ranking and unallocated requests in
the payload; `exports` writes those lists as CSV; `palette` holds the colours and the
words a coordinator reads for categories and scopes.
"""

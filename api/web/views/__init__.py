"""The dashboard's view models: what each page shows, read through the domain services with the API's access rules.

`round` and `proposer` build whole pages; `timeline` places allocations, windows and
changeovers as shares of the shown span so that templates only position boxes;
`panels` fills the round page's quota, ranking and unallocated tables; `palette`
holds the colours and the words a coordinator reads for categories and scopes.
"""

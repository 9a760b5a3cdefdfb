"""An example supernetbench plugin: FairDARTS (a Stage-1 method) and grad_norm (a Stage-2 selector)."""

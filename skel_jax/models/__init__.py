"""Models: adjacency graphs, the ST-GCN encoder, heads and the SkeAttnCLR neck."""

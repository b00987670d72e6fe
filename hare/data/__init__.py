"""Training data: `pack` tokenizes documents into token shards, `shards` reads them back for training."""

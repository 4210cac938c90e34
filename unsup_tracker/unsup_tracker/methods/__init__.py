"""One folder per tracking method (model, tracker, training recipe); discovered by the registry."""

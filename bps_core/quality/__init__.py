"""Label quality: which labels look wrong (cleanlab on the models' out-of-fold predictions)."""

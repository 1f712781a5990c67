"""Training: augmentation, crops, the Hungarian matcher, the loss and the trainer."""

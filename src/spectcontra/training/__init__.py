"""Training: contrastive pretraining, supervised fine-tuning and the recipe that runs both on a
feature store. May import: core, evaluation, features, augment, models.
"""

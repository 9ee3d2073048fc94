"""Training loops: contrastive pretraining of the encoder, then supervised fine-tuning."""

"""Training: a dense Mamba2 teacher, SpikingMamba distillation, evaluation.

  options.py   TrainOptions (one stage's hyper-parameters, loss weights, lr schedule)
  losses.py    lm_loss, kl_loss, hidden_loss (the paper's L_Hidden)
  trainer.py   train_stage: the loop, resumable and bitwise reproducible
  state.py     resumable checkpoints (atomic folder, torch.load(weights_only=True))
  evaluate.py  validation bits per byte, firing rates, generate
  distill.py   distill: teacher and/or student -> mamba_ssm checkpoint folders
  progress.py  the rich progress bar
Modules are imported where used (nothing is imported here).
"""

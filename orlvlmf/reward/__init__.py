"""Reward learning: the Bradley-Terry reward model and the reward / relabel stages.

The observation encoders it trains are in :mod:`orlvlmf.encoders` (shared with the policies).

    losses        Bradley-Terry loss (the paper's Eq. 1-2)
    model         RewardNet: ensemble of encoder + scalar head; save/load without Lightning
    data          pairs.npz checks, segments, preloaded preference tensors
    module        RewardModel LightningModule (imports lightning)
    train         fit with early stopping, TensorBoard, checkpoints; GT correlations
    inference     batched no-grad scoring (optionally bfloat16)
    relabel       score every transition, normalise, write rewards.npz
    stage         pipeline stages ``reward`` and ``relabel``
"""

"""Policy learning: IQL and the baseline learners, and the ``train`` stage.

    learners       the registry's list of learners (name, config, class; light)
    config         ``train`` section and IQL's config; baselines/config: BC, diffusion, GAIL
    base           the Learner contract (a LightningModule with manual optimisation)
    normalization  observation normalisation;  fitting: the Lightning Trainer around ``fit``
    checkpoint     learner checkpoints, ``load_learner``;  errors: ``LearnerError``
    buffer         TransitionBuffer: the dataset's transitions as tensors, batch sampling
    nets, gaussian IQL's networks; the diagonal Gaussian over actions
    iql            Implicit Q-Learning;  baselines/: BC, diffusion policy, GAIL
    fast_linear    oneDNN float32 Linear layers on CPU
    stage          the ``train`` stage (reward column from :mod:`orlvlmf.reward.column`)
"""

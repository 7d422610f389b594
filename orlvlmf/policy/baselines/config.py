"""Configs of the baseline learners (``policy: {name: bc | diffusion | gail, ...}``).

Light module: no torch.  Every baseline reads flat observations (``state``), as in the paper
("for all methods, the policy learns with state observations").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List

BC_LOSSES = ("gaussian", "mse")


@dataclass
class BCConfig:
    """Behaviour cloning: an MLP policy fit to the dataset's actions.

    ``loss: gaussian``: maximise log N(a | tanh(mu(s)), diag(sigma²)) (state-independent log σ);
    ``loss: mse``: minimise ||tanh(mu(s)) − a||².  Rewards are ignored.
    """

    observation: str = "state"
    hidden: List[int] = field(default_factory=lambda: [256, 256])
    loss: str = "gaussian"  # gaussian | mse
    lr: float = 3e-4
    weight_decay: float = 0.0
    batch_size: int = 256
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    normalize_observations: bool = True


@dataclass
class DiffusionConfig:
    """Diffusion Policy (Chi et al. 2023), state-conditioned, one action per step (no chunking).

    A DDPM (``diffusers.DDPMScheduler``) over actions: the MLP eps_theta(a_k, k, s) is trained on
    E ||eps − eps_theta(sqrt(ᾱ_k) a + sqrt(1 − ᾱ_k) eps, k, s)||²; ``act`` runs the reverse chain
    from a ~ N(0, I) over ``num_inference_steps`` steps (samples clipped to [-1, 1]).
    """

    observation: str = "state"
    hidden: List[int] = field(default_factory=lambda: [256, 256, 256])
    time_embed_dim: int = 32
    num_train_timesteps: int = 100
    num_inference_steps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    lr: float = 1e-4
    weight_decay: float = 1e-6
    batch_size: int = 256
    ema_rate: float = 0.995  # EMA of the denoiser's weights used at act(); 0 disables it
    sample_seed: int = 0  # seed of the sampling noise at act() (deterministic evaluation)
    normalize_observations: bool = True


@dataclass
class GAILConfig:
    """GAIL (Ho & Ermon 2016) with our own PPO (Schulman et al. 2017), on states.

    Each learner step: roll the current policy out for ``rollout_steps`` env steps, train the
    discriminator D(s, a) (logit; dataset = 1, policy = 0) for ``disc_epochs`` passes, reward the
    rollout with r = −log(1 − D(s, a)) = softplus(logit), then ``ppo_epochs`` passes of PPO-clip
    with GAE(gamma, lambda).  The policy interacts with the run's env (the train stage hands it to
    the learner); episode k of the rollouts is reset with seed ``env_seed + k``.
    """

    needs_env: ClassVar[bool] = True  # learns by interacting with the run's env, not from data alone
    observation: str = "state"
    hidden: List[int] = field(default_factory=lambda: [64, 64])
    disc_hidden: List[int] = field(default_factory=lambda: [64, 64])
    rollout_steps: int = 1024
    batch_size: int = 256  # dataset transitions per discriminator minibatch
    minibatch_size: int = 256  # PPO minibatch
    ppo_epochs: int = 5
    disc_epochs: int = 1
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_ratio: float = 0.2
    lr: float = 3e-4
    disc_lr: float = 3e-4
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    init_log_std: float = -0.5
    grad_penalty: float = 0.0  # gradient penalty weight on D at dataset samples (0: off)
    normalize_observations: bool = True
    env_seed: int = 0

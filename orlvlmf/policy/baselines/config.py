"""Configs of the baseline learners (``policy: {name: bc | diffusion | gail, ...}``).

Light module: no torch.  Every baseline reads flat observations (``state``), as in the paper
("for all methods, the policy learns with state observations").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, List

from orlvlmf.config.structured import ranged

BC_LOSSES = ("gaussian", "mse")


@dataclass
class BCConfig:
    """Behaviour cloning: an MLP policy fit to the dataset's actions.

    ``loss: gaussian``: maximise log N(a | tanh(mu(s)), diag(sigma²)) (state-independent log σ);
    ``loss: mse``: minimise ||tanh(mu(s)) − a||².  Rewards are ignored.
    """

    observation: str = "state"
    hidden: List[int] = ranged(default_factory=lambda: [256, 256], ge=1)
    loss: str = "gaussian"  # gaussian | mse
    lr: float = ranged(3e-4, gt=0)
    weight_decay: float = ranged(0.0, ge=0)
    batch_size: int = ranged(256, ge=1)
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
    hidden: List[int] = ranged(default_factory=lambda: [256, 256, 256], ge=1)
    time_embed_dim: int = ranged(32, ge=1)
    num_train_timesteps: int = ranged(100, ge=1)
    num_inference_steps: int = ranged(100, ge=1)
    beta_schedule: str = "squaredcos_cap_v2"
    lr: float = ranged(1e-4, gt=0)
    weight_decay: float = ranged(1e-6, ge=0)
    batch_size: int = ranged(256, ge=1)
    ema_rate: float = ranged(0.995, ge=0, lt=1)  # EMA of the denoiser's weights used at act(); 0 disables it
    sample_seed: int = ranged(0, ge=0)  # seed of the sampling noise at act() (deterministic evaluation)
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
    hidden: List[int] = ranged(default_factory=lambda: [64, 64], ge=1)
    disc_hidden: List[int] = ranged(default_factory=lambda: [64, 64], ge=1)
    rollout_steps: int = ranged(1024, ge=1)
    batch_size: int = ranged(256, ge=1)  # dataset transitions per discriminator minibatch
    minibatch_size: int = ranged(256, ge=1)  # PPO minibatch
    ppo_epochs: int = ranged(5, ge=1)
    disc_epochs: int = ranged(1, ge=1)
    gamma: float = ranged(0.99, ge=0, lt=1)
    gae_lambda: float = ranged(0.95, ge=0, le=1)
    clip_ratio: float = ranged(0.2, gt=0)
    lr: float = ranged(3e-4, gt=0)
    disc_lr: float = ranged(3e-4, gt=0)
    entropy_coef: float = ranged(0.0, ge=0)
    value_coef: float = ranged(0.5, ge=0)
    max_grad_norm: float = ranged(0.5, gt=0)
    init_log_std: float = -0.5
    grad_penalty: float = ranged(0.0, ge=0)  # gradient penalty weight on D at dataset samples (0: off)
    normalize_observations: bool = True
    env_seed: int = ranged(0, ge=0)

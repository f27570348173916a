"""The sequence models of the lecture, built on autograd_mini (no hand-written gradients).

Every model keeps its weights as Parameters shared by all time steps and tags its recorded
ops with ``autograd_mini.scope(model_name, step=t)``.
"""
from . import tasks
from .base import Model
from .elman import ElmanRNN
from .hmm import HMM
from .lstm import LSTM
from .memoryless import Autoregressive, FeedForward, carry_chain_batch
from .analysis import gradient_flow, growth_per_step
from .train import History, bit_accuracy, sequence_accuracy, sequence_loss, train

__all__ = ["Model", "ElmanRNN", "LSTM", "HMM", "Autoregressive", "FeedForward", "carry_chain_batch", "gradient_flow", "growth_per_step", "tasks", "train", "History", "sequence_loss", "bit_accuracy", "sequence_accuracy"]

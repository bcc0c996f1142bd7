"""Training for in-context learning: one trainer, warmup data builders, and the momentum-attention plug-in.

Every warmup method (MetaICL, in-context tuning, instruction tuning, self-supervised ICL, symbol tuning) is the same
trainer fed by a different data builder: a builder turns tasks or raw text into :class:`TrainExample` records
(a ``context`` and a scored ``target``); the trainer tokenises them, puts the loss on the target tokens only, and
runs on accelerate (one CPU or many GPUs, unchanged). Importing this package is cheap: torch, peft and accelerate
load inside the modules that use them.
"""

from iclkit.train.examples import TrainExample

__all__ = ["TrainExample"]

"""Objects that invoke a model. They are created and used on the inference thread only.

* :class:`InterpreterTransform` - a TFLite ``Interpreter`` per input shape (CPU with XNNPACK,
  or an external delegate such as the TFLite GPU delegate).
* :class:`CompiledModelTransform` - LiteRT's ``CompiledModel`` with a hardware accelerator.
* :class:`PredictorRunner` - the style predictor.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..errors import BackendUnavailableError
from .modelfile import EMBEDDING_DIM, PredictorModel, TransformModel
from .runtime import load_runtime, native_logs_captured

__all__ = [
    "CompiledModelTransform",
    "InterpreterTransform",
    "PredictorRunner",
    "TransformRunner",
]

logger = logging.getLogger(__name__)

#: frame shapes whose prepared executables are kept per runner (each with one per batch
#: size): two sessions' shapes, the gallery previews and a spare fit without re-preparing
MAX_PREPARED_SHAPES = 4


class TransformRunner(Protocol):
    """Runs a style transform on a batch: ``[N,H,W,3]`` + ``[N,100]`` -> ``[N,H,W,3]``."""

    model: TransformModel

    @property
    def supports_batching(self) -> bool:
        """True if a batch of N runs as one invocation (else sample by sample)."""
        ...

    def run(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        """Stylize ``content`` (float32 in [0, 1]) with one embedding per sample."""
        ...

    def close(self) -> None:
        """Release interpreters and delegates."""
        ...


class _ShapeCache:
    """Prepared executables by ``(batch, height, width, channels)``, least recently used frame
    shape first out: the batch sizes of one frame shape stay or go together, so batches of
    varying size never push another stream's shape out.

    :param max_shapes: frame shapes (height, width) kept.
    """

    def __init__(self, create: Callable[[tuple[int, ...]], Any], on_evict: Callable[[Any], None],
                 max_shapes: int = MAX_PREPARED_SHAPES) -> None:
        self._create = create
        self._on_evict = on_evict
        self._max_shapes = max_shapes
        self._shapes: OrderedDict[tuple[int, ...], dict[int, Any]] = OrderedDict()
        self.created = 0  #: executables prepared so far

    def get(self, shape: tuple[int, ...]) -> Any:
        """The executable for an input of ``shape``, prepared on first use."""
        batch, frame_shape = shape[0], shape[1:]
        by_batch = self._shapes.get(frame_shape)
        if by_batch is None:
            by_batch = self._shapes[frame_shape] = {}
        self._shapes.move_to_end(frame_shape)
        if batch not in by_batch:
            by_batch[batch] = self._create(shape)
            self.created += 1
        while len(self._shapes) > self._max_shapes:
            _, old = self._shapes.popitem(last=False)
            for item in old.values():
                self._on_evict(item)
        return by_batch[batch]

    def clear(self) -> None:
        """Release everything."""
        while self._shapes:
            for item in self._shapes.popitem()[1].values():
                self._on_evict(item)


def _split_batch(
    runner: Callable[[np.ndarray, np.ndarray], np.ndarray], content: np.ndarray, styles: np.ndarray
) -> np.ndarray:
    return np.concatenate([runner(content[i : i + 1], styles[i : i + 1]) for i in range(len(content))])


class InterpreterTransform:
    """A transform run by TFLite ``Interpreter`` objects, one prepared per input shape.

    :param model: the checked transform model.
    :param threads: CPU threads for XNNPACK.
    :param make_delegates: called once per prepared interpreter; returns the delegates to
        apply (empty for the CPU). Delegates are per interpreter, so each shape gets its own.
    """

    def __init__(
        self,
        model: TransformModel,
        threads: int,
        make_delegates: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.model = model
        self.threads = threads
        self._make_delegates = make_delegates
        self._batching = True
        self._cache = _ShapeCache(self._prepare, lambda entry: None)

    def _prepare(self, shape: tuple[int, ...]) -> Any:
        n, h, w, _ = shape
        delegates = self._make_delegates() if self._make_delegates else []
        with native_logs_captured():
            interpreter = load_runtime().Interpreter(
                model_content=self.model.content_for_shape(h, w),
                num_threads=self.threads,
                experimental_delegates=delegates or None,
            )
            interpreter.resize_tensor_input(self.model.content.index, [n, h, w, 3], strict=False)
            interpreter.resize_tensor_input(self.model.style.index, [n, 1, 1, EMBEDDING_DIM], strict=False)
            interpreter.allocate_tensors()
        return interpreter, delegates

    def _run_one_shape(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        interpreter, _ = self._cache.get(content.shape)
        interpreter.set_tensor(self.model.content.index, content)
        interpreter.set_tensor(self.model.style.index, styles.reshape(len(styles), 1, 1, EMBEDDING_DIM))
        interpreter.invoke()
        out = interpreter.get_tensor(self.model.output.index)
        if out.shape != content.shape:
            raise BackendUnavailableError(
                f"{self.model.name} produced {out.shape[1:3]} for a {content.shape[1:3]} input"
            )
        return out

    def run(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        """See :class:`TransformRunner`."""
        if len(content) > 1 and self._batching:
            try:
                return self._run_one_shape(content, styles)
            except (ValueError, RuntimeError, BackendUnavailableError) as exc:
                logger.info("%s cannot run a batch of %d (%s); running frames one by one from now on",
                            self.model.name, len(content), exc)
                self._batching = False
        if len(content) > 1:
            return _split_batch(self._run_one_shape, content, styles)
        return self._run_one_shape(content, styles)

    @property
    def supports_batching(self) -> bool:
        """False once a batched run failed for this model."""
        return self._batching

    @property
    def prepared(self) -> int:
        """Interpreters prepared so far (a new one per frame shape and batch size not cached)."""
        return self._cache.created

    def close(self) -> None:
        """Drop every prepared interpreter (and its delegates)."""
        self._cache.clear()


class CompiledModelTransform:
    """A transform run by LiteRT ``CompiledModel`` on a hardware accelerator.

    :param accelerator: a ``HardwareAccelerator`` flag; the GPU path uses ``GPU`` alone so
        that an unsupported graph fails loudly instead of silently running on the CPU.
    """

    def __init__(self, model: TransformModel, accelerator: Any, threads: int) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.environment import Environment
        from ai_edge_litert.options import Options

        self.model = model
        self._compiled_model_cls = CompiledModel
        self._options = Options(accelerator, cpu_options=CpuOptions(num_threads=threads))
        self._environment = Environment.create()
        self._cache = _ShapeCache(self._prepare, self._release)

    @property
    def supports_batching(self) -> bool:
        """Always False: batches run sample by sample."""
        return False

    def _prepare(self, shape: tuple[int, ...]) -> Any:
        n, h, w, _ = shape
        compiled = self._compiled_model_cls.from_buffer(
            self.model.content_for_shape(h, w), environment=self._environment, options=self._options
        )
        inputs = compiled.get_signature_list()
        names = next(iter(inputs.values()))["inputs"]
        order = {name: i for i, name in enumerate(names)}
        content_slot = order[self.model.content.name]
        style_slot = order[self.model.style.name]
        if (h, w) != self.model.native_shape or n != 1:
            compiled.resize_input_tensor(content_slot, [n, h, w, 3], strict=False)
        in_buffers = compiled.create_input_buffers(0)
        out_buffers = compiled.create_output_buffers(0)
        return compiled, in_buffers, out_buffers, content_slot, style_slot

    @staticmethod
    def _release(entry: Any) -> None:
        compiled, in_buffers, out_buffers, _, _ = entry
        for buffer in in_buffers + out_buffers:
            buffer.destroy()
        compiled.close()

    def run(self, content: np.ndarray, styles: np.ndarray) -> np.ndarray:
        """See :class:`TransformRunner`."""
        if len(content) > 1:
            return _split_batch(self.run, content, styles)
        compiled, ins, outs, content_slot, style_slot = self._cache.get(content.shape)
        ins[content_slot].write(np.ascontiguousarray(content, np.float32))
        ins[style_slot].write(np.ascontiguousarray(styles, np.float32).reshape(1, 1, 1, EMBEDDING_DIM))
        compiled.run_by_index(0, ins, outs)
        return outs[0].read(content.size, np.float32).reshape(content.shape)

    def close(self) -> None:
        """Release compiled models, buffers and the LiteRT environment."""
        self._cache.clear()
        self._environment.close()


class PredictorRunner:
    """Runs the style predictor: ``[1,256,256,3]`` float32 -> 100-d embedding."""

    def __init__(self, model: PredictorModel, threads: int) -> None:
        self.model = model
        with native_logs_captured():
            self._interpreter = load_runtime().Interpreter(model_content=model.file.content, num_threads=threads)
            self._interpreter.allocate_tensors()
        self.runs = 0

    def predict(self, style_batch: np.ndarray) -> np.ndarray:
        """Return the embedding (shape ``[100]``, float32) of one preprocessed style image."""
        self._interpreter.set_tensor(self.model.input.index, style_batch.astype(np.float32, copy=False))
        self._interpreter.invoke()
        self.runs += 1
        return self._interpreter.get_tensor(self.model.output.index).reshape(EMBEDDING_DIM).copy()

    def close(self) -> None:
        """Release the interpreter."""
        self._interpreter = None

"""One run of ``gradlab predict``: a saved model's accuracy and pictures on a data set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradlab.jobs.train import data_classes, load_data


@dataclass
class PredictResult:
    """A saved model's predictions on a data set's test images."""

    model: Any
    data: Any
    accuracy: float
    files: list[Path]


def run_predict(
    checkpoint: Path,
    *,
    dataset: str = "digits",
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    seed: int | None = None,
    out: Path = Path("runs/predict"),
    n: int = 18,
    quiet: bool = False,
) -> PredictResult:
    """Load the model in ``checkpoint``, check it fits ``dataset``, score it, draw it.

    Parameters
    ----------
    seed : int, optional
        For ``synthetic`` images: the seed they are generated with (default: the
        model's, so it sees the test images it was trained beside).
    n : int
        Images in the prediction grid.

    Raises
    ------
    DataError
        The checkpoint is missing or damaged (the message names the field), or does
        not fit the data set (image shape, classes).
    """
    from gradlab import checkpoint as ckpt_file
    from gradlab.io import check_out_dir
    from gradlab.jobs.predictions import draw_predictions
    from gradlab.models._network import PlainClassifier

    check_out_dir(out, create=True)
    header = ckpt_file.read(checkpoint, arrays=False)  # the weights once the data fit
    data = load_data(
        dataset,
        data_dir=data_dir,
        cache_dir=cache_dir,
        seed=header.seed if seed is None else seed,
        quiet=quiet,
    )
    ckpt_file.check_compatible(
        header,
        against=f"the {data.name} data set",
        input_shape=data.image_shape,
        classes=data_classes(data),
        hint="Pass the --dataset the model was trained on.",
    )
    model = PlainClassifier.from_checkpoint(ckpt_file.read(checkpoint))
    accuracy = model.score(data.X_test, data.y_test)
    files = draw_predictions(model, data, out, n)
    return PredictResult(model, data, accuracy, files)

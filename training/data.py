"""Training inputs: photos and video frames from folders, served as random square crops, plus
the painting and the checks made before training starts.

numpy + OpenCV only, so evaluation and the command's early checks need no torch. Files that
cannot be decoded are skipped and counted; a dataset with nothing usable is an error that says
what to pass instead. Images are kept in memory, shrunk to what the largest crop needs, up to a
budget, and re-read from disk beyond it. Videos are decoded in order (seeking is not
frame-exact with every codec), so a long video costs one pass at the start of a run.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from camstyle.errors import CamStyleError
from camstyle.training import flow

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
MIN_DEFAULT_PHOTOS = 100
MAX_IMAGES = 20_000      # longer lists are sampled: a run sees far fewer crops than that anyway
FRAMES_PER_VIDEO = 60    # evenly spaced stills taken from each video for the image stage
CACHE_BUDGET = 2 << 30   # bytes of decoded images kept in memory
# The size the networks are trained to paint at (a 640x360 frame, seen as 256 px crops of photos
# scaled to a 256-512 px short side): previews, export checks and eval show it, and styles record it as their inference size.
INFERENCE_SIZE = (640, 360)
DATA_HINT = "Pass --data with any folder of a few hundred photos (COCO is what the paper used), or video files."


@contextlib.contextmanager
def quiet_decoding() -> Iterator[None]:
    """Silence OpenCV's and FFmpeg's complaints about broken files (FFmpeg writes straight to
    file descriptor 2): CamStyle counts and reports such files itself. Unlike the runtime's
    camstyle.frames.opencv_quiet it redirects the whole process's stderr, so it is for training only."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    saved = None
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        logging.setLogLevel(previous)


def collect_files(sources: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(images, videos) named by `sources`: files, or folders searched recursively."""
    images: list[Path] = []
    videos: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise CamStyleError(f"Training data {path} does not exist.", DATA_HINT)
        for p in candidates:
            ext = p.suffix.lower()
            if ext in IMAGE_EXTS:
                images.append(p)
            elif ext in VIDEO_EXTS:
                videos.append(p)
            elif path.is_file():
                raise CamStyleError(f"{path} is neither an image ({', '.join(sorted(IMAGE_EXTS))}) "
                                    f"nor a video ({', '.join(sorted(VIDEO_EXTS))}).", DATA_HINT)
    return images, videos


def default_data_dir() -> Path:
    """The user's Pictures folder when it holds enough photos to learn from."""
    import platformdirs

    pictures = Path(platformdirs.user_pictures_dir())
    count = 0
    if pictures.is_dir():
        for p in pictures.rglob("*"):
            if p.suffix.lower() in IMAGE_EXTS:
                count += 1
                if count >= MIN_DEFAULT_PHOTOS:
                    return pictures
    found = f"only {count} images" if pictures.is_dir() else "does not exist"
    raise CamStyleError(f"No training photos given, and your Pictures folder ({pictures}) {found}; "
                        f"at least {MIN_DEFAULT_PHOTOS} are needed.", DATA_HINT)


def training_files(sources: Iterable[str | Path], temporal: Iterable[str | Path] = ()) -> tuple[list[Path], list[Path]]:
    """(images, videos) for the image stage: --data, else the --temporal-data videos, else the Pictures folder."""
    sources = list(sources) or list(temporal) or [default_data_dir()]
    images, videos = collect_files(sources)
    if not images and not videos:
        raise CamStyleError(f"The training data is empty: no images or videos in {', '.join(map(str, sources))}.", DATA_HINT)
    return images, videos


def load_style_image(path: Path, longer_side: int) -> np.ndarray:
    """The painting as RGB uint8, its longer side scaled to `longer_side`."""
    if not path.is_file():
        raise CamStyleError(f"Style image {path} does not exist.", "Pass the path of a painting (jpg, png, webp, bmp).")
    image = read_image(path)
    if image is None:
        raise CamStyleError(f"Style image {path} is not a readable image.",
                            "Pass a painting as a jpg, png, webp or bmp file (re-download it if it is truncated).")
    h, w = image.shape[:2]
    k = longer_side / max(h, w)
    return cv2.resize(image, (max(8, round(w * k)), max(8, round(h * k))),
                      interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)


def check_writable(folder: Path) -> None:
    """Fail now, not after an hour of training, when a result could not be saved.

    Folders it had to make for the test are removed again: a command that stops on a later
    check (a bad option) leaves no empty run behind."""
    import tempfile

    from camstyle.atomic import storage_error
    from camstyle.errors import StorageError

    if folder.exists() and not folder.is_dir():
        raise StorageError(f"{folder} is a file, not a folder, so results cannot be saved there.",
                           "Move or delete that file and run the command again.")
    made = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".camstyle-write-test-"):
            pass
    except OSError as exc:
        raise storage_error(folder, exc) from None
    finally:
        for path in made:  # deepest first
            try:
                path.rmdir()
            except OSError:  # already gone, or something else wrote there meanwhile
                pass


def read_image(path: str | Path) -> np.ndarray | None:
    """RGB uint8, or None when the file is not a decodable image (any path, any OS)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    with quiet_decoding():
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or min(bgr.shape[:2]) < 8:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def shrink(image: np.ndarray, short_side: int) -> np.ndarray:
    """Scale down (never up) so the shorter side is at most `short_side`."""
    h, w = image.shape[:2]
    k = short_side / min(h, w)
    if k >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def resize_short(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    k = short_side / min(h, w)
    size = (max(short_side, round(w * k)), max(short_side, round(h * k)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)


def video_frame_count(path: str | Path) -> int:
    with quiet_decoding():
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                return 0
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:  # some containers do not say: count by decoding
                count = 0
                while cap.grab():
                    count += 1
            return count
        finally:
            cap.release()


def read_video_frames(path: str | Path, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """The frames at `indices` (RGB uint8), decoding in order: seeking is not frame-exact everywhere."""
    wanted = set(indices)
    frames: dict[int, np.ndarray] = {}
    if not wanted:
        return frames
    last = max(wanted)
    with quiet_decoding():
        cap = cv2.VideoCapture(str(path))
        try:
            index = 0
            while cap.isOpened() and index <= last and cap.grab():
                if index in wanted:
                    ok, bgr = cap.retrieve()
                    if ok and bgr is not None:
                        frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            cap.release()
    return frames


def evenly(count: int, n: int) -> list[int]:
    """n indices spread evenly over range(count) (all of them when n >= count)."""
    if count <= 0:
        return []
    if n >= count:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, n)})


def random_crop(image: np.ndarray, crop: int, rng: random.Random, jitter: bool = True) -> np.ndarray:
    """Scale jitter (short side to a random size in [crop, 2*crop]), a random square crop, a random flip."""
    short = rng.randint(crop, 2 * crop) if jitter else crop
    image = resize_short(image, short)
    h, w = image.shape[:2]
    y, x = rng.randint(0, h - crop), rng.randint(0, w - crop)
    out = image[y:y + crop, x:x + crop]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def to_chw(images: list[np.ndarray]) -> np.ndarray:
    """RGB uint8 HxWx3 images -> float32 [N, 3, H, W] in 0..1."""
    return np.stack([im.transpose(2, 0, 1) for im in images]).astype(np.float32) / 255.0


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A natural-looking RGB uint8 test image: a sky-to-ground gradient, soft blobs, edges and
    fine texture, for checks that need an image when no photo is at hand."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    top, bottom = rng.uniform(0.3, 1.0, 3), rng.uniform(0.0, 0.6, 3)
    t = (ys / max(height - 1, 1))[..., None]
    img = top * (1 - t) + bottom * t
    for _ in range(6):  # soft coloured blobs
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.08, 0.3) * max(width, height)
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - 0.7 * blob) + rng.uniform(0, 1, 3) * 0.7 * blob
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    for _ in range(4):  # hard-edged shapes
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(img, centre, int(rng.integers(3, max(4, min(width, height) // 4))), colour, -1, cv2.LINE_AA)
        else:
            p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.rectangle(img, p1, p2, colour, -1)
    texture = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 0.8)
    return np.clip(img.astype(np.float32) + texture[..., None], 0, 255).astype(np.uint8)


class ImageDataset:
    """Random crops from photos and evenly sampled video stills."""

    def __init__(self, images: list[Path], videos: list[Path], crop: int, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None, frames_per_video: int = FRAMES_PER_VIDEO):
        self.crop = crop
        self.total_files = len(images) + len(videos)
        if len(images) > MAX_IMAGES:
            images = sorted(random.Random(seed).sample(images, MAX_IMAGES))
        self.sampled_from = self.total_files if len(images) + len(videos) < self.total_files else None
        self.paths: list[Path] = []
        self.cache: dict[int, np.ndarray] = {}
        self.skipped: list[Path] = []
        cached_bytes = 0
        done = 0
        for path in images:
            image = read_image(path)
            if image is None:
                self.skipped.append(path)
            else:
                image = shrink(image, 2 * crop)
                if cached_bytes + image.nbytes <= CACHE_BUDGET:
                    self.cache[len(self.paths)] = image
                    cached_bytes += image.nbytes
                self.paths.append(path)
            done += 1
            if progress:
                progress(done, len(images) + len(videos))
        for path in videos:
            frames = read_video_frames(path, evenly(video_frame_count(path), frames_per_video))
            if not frames:
                self.skipped.append(path)
            for index in sorted(frames):
                self.cache[len(self.paths)] = shrink(frames[index], 2 * crop)
                self.paths.append(path)
            done += 1
            if progress:
                progress(done, len(images) + len(videos))
        if not self.paths:
            what = f"none of its {self.total_files} files could be read" if self.total_files else "it has no images or videos"
            raise CamStyleError(f"The training data is empty: {what}.", DATA_HINT)

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        cached = self.cache.get(index)
        if cached is not None:
            return cached
        image = read_image(self.paths[index])
        if image is None:  # changed on disk since the start: use a neighbour
            return self.image((index + 1) % len(self.paths))
        return shrink(image, 2 * self.crop)

    def batch(self, size: int, rng: random.Random) -> np.ndarray:
        """float32 [size, 3, crop, crop] RGB in 0..1."""
        return to_chw([random_crop(self.image(rng.randrange(len(self.paths))), self.crop, rng) for _ in range(size)])

    def moved_batch(self, size: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pairs as VideoPairs.batch serves them, made from photos: each a photo (at the image
        stage's scale jitter) and the same photo moved as a hand-held camera moves it (camera_move)."""
        pairs = []
        for _ in range(size):
            cur = resize_short(self.image(rng.randrange(len(self.paths))), rng.randint(self.crop, 2 * self.crop))
            prev, fl, mask = camera_move(cur, rng)
            pairs.append(aligned_crop(prev, cur, fl, mask, self.crop, rng))
        return stack_pairs(pairs)

    def fixed_images(self, count: int, width: int, height: int) -> list[np.ndarray]:
        """`count` images spread over the dataset, centre-cropped to width x height: previews and export checks."""
        from camstyle.frames import fit_frame

        return [np.ascontiguousarray(fit_frame(self.image(i), width, height)) for i in evenly(len(self.paths), count)]


SHAKE_PX = 4.0        # most a camera_move shifts the picture, px on a frame of SHAKE_SHORT_SIDE px (a hand-held
SHAKE_SHORT_SIDE = 160  # webcam at 320x180: up to 4); on larger frames the shift grows in proportion
SHAKE_DEGREES = 0.5   # ... turns it
SHAKE_ZOOM = 0.01     # ... and scales it


def camera_move(frame: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A made-up frame before `frame`, as if a hand-held webcam had moved a little in between:
    (that frame, the flow from `frame` back to it, the mask of pixels it still shows).

    The flow is exact, so the temporal loss sees whether the network paints the same strokes on
    a moved picture. Recorded clips rarely move the whole picture by a pixel or two, and a
    network that never saw it repaints the background of a hand-held close-up every frame: its
    stride-2 layers map only shifts of whole cells onto each other (docs/research/camera-shake.md)."""
    h, w = frame.shape[:2]
    angle, zoom = rng.uniform(-SHAKE_DEGREES, SHAKE_DEGREES), 1 + rng.uniform(-SHAKE_ZOOM, SHAKE_ZOOM)
    to_prev = cv2.getRotationMatrix2D((rng.uniform(0, w), rng.uniform(0, h)), angle, zoom)
    most = SHAKE_PX * min(h, w) / SHAKE_SHORT_SIDE
    to_prev[:, 2] += (rng.uniform(-most, most), rng.uniform(-most, most))
    # warpAffine inverts its matrix: prev(q) = frame(to_prev⁻¹ q), so frame's pixel p is at to_prev p in prev
    prev = cv2.warpAffine(frame, to_prev, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    grid = flow.pixel_grid(h, w)
    where = grid @ to_prev[:, :2].T.astype(np.float32) + to_prev[:, 2].astype(np.float32)
    inside = (where[..., 0] >= 0) & (where[..., 0] <= w - 1) & (where[..., 1] >= 0) & (where[..., 1] <= h - 1)
    return prev, (where - grid).astype(np.float16), inside.astype(np.uint8)


def aligned_crop(prev: np.ndarray, cur: np.ndarray, fl: np.ndarray, mask: np.ndarray, crop: int,
                 rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same random crop of a pair, its flow (as float32) and its mask, all mirrored half the time."""
    h, w = prev.shape[:2]
    y, x = rng.randint(0, h - crop), rng.randint(0, w - crop)
    window = (slice(y, y + crop), slice(x, x + crop))
    prev, cur, fl, mask = prev[window], cur[window], fl[window].astype(np.float32), mask[window]
    if rng.random() < 0.5:  # mirror everything; the flow's x component changes sign
        prev, cur, fl, mask = prev[:, ::-1], cur[:, ::-1], fl[:, ::-1] * np.float32([-1, 1]), mask[:, ::-1]
    return prev, cur, fl, mask


def stack_pairs(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """(prev, current) float32 [B,3,c,c] in 0..1, flow current->prev [B,2,c,c], mask [B,1,c,c]."""
    return (to_chw([p[0] for p in pairs]), to_chw([p[1] for p in pairs]),
            np.stack([p[2].transpose(2, 0, 1) for p in pairs]), np.stack([p[3][None].astype(np.float32) for p in pairs]))


class VideoPairs:
    """Consecutive frame pairs spread over each video, with the flow from each frame back to the
    one before and its occlusion mask, served as aligned random crops (the temporal stage)."""

    def __init__(self, videos: list[Path], crop: int, pairs_per_video: int = 100,
                 progress: Callable[[int, int], None] | None = None, camera_shake: float = 0.0, scale: float = 1.25):
        self.crop, self.camera_shake = crop, camera_shake
        self.clips: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # prev, cur, flows, masks
        self.skipped: list[Path] = []
        short = max(crop, round(crop * scale))
        for done, video in enumerate(videos, 1):
            starts = evenly(video_frame_count(video) - 1, pairs_per_video)
            frames = read_video_frames(video, starts + [s + 1 for s in starts])
            pairs = [(resize_short(frames[s], short), resize_short(frames[s + 1], short))
                     for s in starts if s in frames and s + 1 in frames]
            if pairs:
                flows, masks = flow.cached_pair_flows(video, pairs, extra=f"pairs={pairs_per_video}")
                self.clips.append((np.stack([p for p, _ in pairs]), np.stack([c for _, c in pairs]), flows, masks))
            else:
                self.skipped.append(video)
            if progress:
                progress(done, len(videos))
        self.index = [(c, i) for c, clip in enumerate(self.clips) for i in range(len(clip[0]))]
        if not self.index:
            raise CamStyleError(f"None of the {len(videos)} videos for the temporal stage could be read.",
                                "Pass readable video files (mp4, avi, mov, mkv, webm) with --temporal-data, or leave them out.")

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, size: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(prev, current) float32 [B,3,c,c] in 0..1, flow current->prev [B,2,c,c], mask [B,1,c,c]."""
        pairs = []
        for _ in range(size):
            clip, i = self.index[rng.randrange(len(self.index))]
            prev, cur, fl, mask = (a[i] for a in self.clips[clip])
            if self.camera_shake and rng.random() < self.camera_shake:
                prev, fl, mask = camera_move(cur, rng)
            pairs.append(aligned_crop(prev, cur, fl, mask, self.crop, rng))
        return stack_pairs(pairs)

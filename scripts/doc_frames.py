"""Render the README's sample frames (neutral, mid-word, wide open, blink) into docs/frames/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from talker.config import Settings
from talker.explainer import synthesize_speech
from talker.face.portrait import create_analyzer
from talker.face.pose import FacePose, MouthShape
from talker.face.renderer import Renderer
from talker.face.visemes import mouth_track

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "frames"


def main() -> None:
    settings = Settings()
    portrait = create_analyzer(settings).analyze(ROOT / "src" / "talker" / "data" / "sample_portrait.jpg")
    renderer = Renderer(portrait)
    speech = synthesize_speech(settings, "你好，我是数字人。", voice="zf_xiaoxiao")
    track = mouth_track(speech.phonemes, 25, int(speech.duration * 25))
    mid_word = max(range(len(track)), key=lambda i: track[i].open if 0.25 < track[i].open < 0.5 else -1)
    frames = {
        "neutral": FacePose(),
        "mid-word": FacePose(track[mid_word]),
        "wide-open": FacePose(MouthShape(jaw=0.85, open=0.85, width=0.1)),
        "blink": FacePose(blink=1.0, brow=0.4),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    tiles = []
    for name, pose in frames.items():
        frame = renderer.render(pose)
        Image.fromarray(frame).save(OUT / f"{name}.png")
        x0, y0, x1, y1 = (int(v) for v in portrait.face_box)
        pad = (x1 - x0) // 4
        tiles.append(frame[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad])
    height = min(t.shape[0] for t in tiles)
    Image.fromarray(np.concatenate([t[:height] for t in tiles], axis=1)).save(OUT / "strip.png")
    print(f"wrote {', '.join(f'{n}.png' for n in frames)} and strip.png to {OUT}")


if __name__ == "__main__":
    main()

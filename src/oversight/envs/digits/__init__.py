"""scikit-learn's 8x8 handwritten digits, for the pixel debate of Irving, Christiano & Amodei
(2018, "AI safety via debate", section 3.1): a stratified split and random masks of revealed
nonzero pixels (:mod:`oversight.envs.digits.data`). scikit-learn is imported lazily, inside the
loader, so that ``import oversight`` works without it (install the ``digits`` extra)."""

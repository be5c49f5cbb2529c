from .x3d import X3DBackbone, X3DBottleneck, round_repeats, round_width

__all__ = ['X3DBackbone', 'X3DBottleneck', 'round_width', 'round_repeats']

# Copyright (c) mmx3d contributors. All rights reserved.
from .fused_ops import (
    bn_relu_channelwise_conv,
    bn_se_swish_conv,
    can_fuse_block,
)

__all__ = ['bn_relu_channelwise_conv', 'bn_se_swish_conv', 'can_fuse_block']

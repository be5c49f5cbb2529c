# Copyright (c) mmx3d contributors. All rights reserved.
from .fuse_bn import count_bn, fuse_bn, fuse_conv_bn
from .fused_ops import (
    bn_relu_channelwise_conv,
    bn_se_swish_conv,
    can_fuse_block,
    can_fuse_channelwise_conv,
    channelwise_conv,
    conv_bn_relu_channelwise_conv,
    keep_memory_format,
)

__all__ = [
    'bn_relu_channelwise_conv', 'bn_se_swish_conv', 'can_fuse_block',
    'can_fuse_channelwise_conv', 'channelwise_conv',
    'conv_bn_relu_channelwise_conv', 'count_bn', 'fuse_bn', 'fuse_conv_bn',
    'keep_memory_format'
]

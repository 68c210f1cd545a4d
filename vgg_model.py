"""VGG19, the network of the style transfer: its layers (names, shapes, strides) and the frozen
network built from its weights (neural_style/files/weights.py finds and reads those)."""

from neural_style.model.tf_setup import cpu_flags, onednn_enabled, tf

# Layer names of VGG19's convolutional part, in order (blocks of 2, 2, 4, 4, 4 convolutions).
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
CONV_LAYERS = tuple(f"conv{b + 1}_{i + 1}" for b, depth in enumerate(BLOCK_DEPTHS) for i in range(depth))
LAYERS = tuple(
    name
    for b, depth in enumerate(BLOCK_DEPTHS)
    for name in [f"conv{b + 1}_{i + 1}" for i in range(depth)] + [f"pool{b + 1}"]
)


def expected_shapes():
    """{layer: (kernel shape, bias shape)} for every convolution of VGG19."""
    shapes, channels_in = {}, 3
    for b, depth in enumerate(BLOCK_DEPTHS):
        for i in range(depth):
            width = BLOCK_WIDTHS[b]
            shapes[f"conv{b + 1}_{i + 1}"] = ((3, 3, channels_in, width), (width,))
            channels_in = width
    return shapes


def layer_stride(layer):
    """How many pixels one position of `layer` spans: 2 to the number of poolings up to it."""
    return 2 ** sum(1 for name in LAYERS[: LAYERS.index(layer) + 1] if name.startswith("pool"))


class VGG19:
    """The frozen network: constant weights, 3x3 SAME convolutions with ReLU, 2x2 pooling.

    Built only up to the deepest layer asked for. Feature maps are taken after the ReLU, as in
    Gatys et al., so `conv4_2` names the rectified response of that convolution. The network runs
    in `precision` (float32 or bfloat16) from its input to its features, which it hands back in that
    precision: the losses sum them in float32 (neural_style/model/losses.py).

    Each convolution carries its own gradient, with respect to its input only: the weights are
    constants, so the filter gradients that autodiff would also build are never wanted. The input
    gradient of a stride-1 SAME 3x3 convolution is itself such a convolution, of the output
    gradient with the kernel turned by 180 degrees and its input and output channels swapped, so
    either direction can be computed by either of TensorFlow's two kernels, Conv2D and
    Conv2DBackpropInput, and each takes the faster one on this machine (benchmarks/README.md): with
    oneDNN on AVX-512, Conv2D forward (Grappler fuses it with the bias and the ReLU) and the input
    gradient's own kernel backward; with oneDNN on AVX2, where its Conv2D is a slow GEMM, the
    input-gradient kernel both ways; with Eigen, Conv2D both ways.
    """

    def __init__(self, weights, layers, pooling="avg", precision="float32"):
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise ValueError(f"unknown layer {unknown[0]}; choose from {', '.join(LAYERS)}")
        self.layers = tuple(layers)
        self.pipeline = LAYERS[: max(LAYERS.index(name) for name in layers) + 1]
        self.dtype = tf.dtypes.as_dtype(precision)
        self.mean = tf.constant(weights.mean_rgb.reshape(1, 1, 1, 3))
        convolutions = [name for name in self.pipeline if name in CONV_LAYERS]
        self.kernels = {name: tf.constant(weights.kernels[name], self.dtype) for name in convolutions}
        self.turned_kernels = {
            name: tf.constant(weights.kernels[name][::-1, ::-1].swapaxes(2, 3), self.dtype) for name in convolutions
        }
        self.biases = {name: tf.constant(weights.biases[name], self.dtype) for name in convolutions}
        self.pool = {"avg": tf.nn.avg_pool2d, "max": tf.nn.max_pool2d}[pooling]
        onednn = onednn_enabled()
        self.forward = convolve_as_input_gradient if onednn and "avx512f" not in cpu_flags() else convolve_forward
        self.backward = convolve_as_input_gradient if onednn else convolve_forward

    def __call__(self, image):
        """Features {layer: tensor in the network's precision} of a batch of RGB images with values 0..255."""
        x, features = tf.cast(image - self.mean, self.dtype), {}
        for name in self.pipeline:
            if name in self.kernels:
                x = self.conv_relu(x, self.kernels[name], self.turned_kernels[name], self.biases[name])
            else:
                x = self.pool(x, 2, 2, "SAME")
            if name in self.layers:
                features[name] = x
        return features

    def conv_relu(self, x, kernel, turned_kernel, bias):

        @tf.custom_gradient
        def layer(x):
            y = tf.nn.relu(tf.nn.bias_add(self.forward(x, kernel, turned_kernel), bias))

            def input_gradient(dy):
                return self.backward(tf.raw_ops.ReluGrad(gradients=dy, features=y), turned_kernel, kernel)

            return y, input_gradient

        return layer(x)


def convolve_forward(x, kernel, turned_kernel):
    """The 3x3 SAME convolution of x with kernel (h, w, in, out), by TensorFlow's Conv2D."""
    return tf.nn.conv2d(x, kernel, 1, "SAME")


def convolve_as_input_gradient(x, kernel, turned_kernel):
    """The same convolution, computed as the input gradient of a convolution with the turned kernel."""
    output_shape = tf.concat([tf.shape(x)[:-1], [kernel.shape[-1]]], 0)
    return tf.raw_ops.Conv2DBackpropInput(
        input_sizes=output_shape, filter=turned_kernel, out_backprop=x, strides=[1, 1, 1, 1], padding="SAME"
    )

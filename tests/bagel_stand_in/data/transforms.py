"""TEST DOUBLE for Bagel's data.transforms.ImageTransform (resize to a stride-aligned size)."""


class ImageTransform:
    def __init__(self, max_image_size, min_image_size, image_stride):
        self.max_image_size = max_image_size
        self.min_image_size = min_image_size
        self.image_stride = image_stride

    def resize_transform(self, image):
        width, height = image.size
        scale = min(1.0, self.max_image_size / max(width, height))
        stride = self.image_stride
        new = (max(stride, int(width * scale) // stride * stride),
               max(stride, int(height * scale) // stride * stride))
        return image.resize(new)

"""The project's embedded data, installed as the package `transfer_keras._data`.

Files only (see README.md here): the example kit (ImageNet MobileNet weights and
the ants/bees photos) and the project's own Fashion-MNIST source backbone. Find
them with `transfer_keras.kit` rather than by path.
"""

"""posefinder.models: what runs at inference time, CPU or GPU, with no Qt: skeleton, poses and their file
formats, the descriptor, the library (database and exact search), the networks, weights and estimators."""

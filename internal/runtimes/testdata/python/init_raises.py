raise RuntimeError("config missing")

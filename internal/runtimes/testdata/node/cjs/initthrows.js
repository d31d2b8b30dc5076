throw new RangeError("config missing");

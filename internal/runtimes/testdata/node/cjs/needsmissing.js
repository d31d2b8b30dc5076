require("surely-not-installed-module");
exports.handler = async () => 1;

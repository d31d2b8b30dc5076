export const helper = () => "esm .js with type module";

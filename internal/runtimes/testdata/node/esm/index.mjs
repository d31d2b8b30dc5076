const greeting = await Promise.resolve("hello from mjs");

export const handler = async (event, context) => ({ greeting, id: context.awsRequestId });

export default { other: () => "default export" };
